"""The assistant's own logic, with no Rasa imports: knowledge and its schema, composing answers,
regions, languages, text cleaning, identity numbers, redaction, the lookup policy, the card registry
and its CSV import. The Rasa glue (actions/, components/, channels/, tracker_store/, web/) imports
this package; this package imports none of them."""
