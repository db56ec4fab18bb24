"""The rules engine: config/rules.yaml's conditions over the active signals and the actions
they run (facility status, class suspension, crews, response level, liaison, broadcasts,
evacuation, shelters, prompts for the duty operator), idempotent and journaled."""
