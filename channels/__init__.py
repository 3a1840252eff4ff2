"""Custom Rasa input channels of this assistant."""
