"""Custom Rasa NLU components: input cleaning, region entities, language detection."""
