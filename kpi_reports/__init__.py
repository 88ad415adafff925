"""KPI reports from the conversation log; built in a later step."""
