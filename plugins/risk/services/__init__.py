"""The risk plugin's services: the fraud rules and the holds they place (``rules``), what the operator
pages read and do (``ops``), and the audit log's filters (``audit_log``)."""
