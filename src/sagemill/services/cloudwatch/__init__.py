"""CloudWatch: metrics, alarms and their history (client `cloudwatch`, JSON 1.0 and query)."""
