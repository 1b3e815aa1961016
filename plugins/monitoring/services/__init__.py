"""The monitoring plugin's services: ``rollups`` (daily figures kept up to date), ``snapshot`` (the network's
money as of the last refresh), ``machinery`` (queues, workers, schedules, the click stream) and
``summary`` (everything the dashboard shows, in one call)."""
