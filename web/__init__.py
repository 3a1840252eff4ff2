"""The web front ends: the chat page (talks to Rasa's socket.io channel) and the 12333 staff desk."""
