"""The publish plugin's services: connected accounts, the assignment queue, and posting (``posting`` runs
the steps: ``claims``, ``posts``, ``outcomes``, ``reconciliation``, with caps and intervals in ``pacing``)."""
