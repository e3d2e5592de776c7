"""Amazon SNS (query protocol): topics, subscriptions and Publish, delivered by control.notifications."""
