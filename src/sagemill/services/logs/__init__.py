"""CloudWatch Logs (client `logs`): log groups, streams and events for users and the platform's jobs."""
