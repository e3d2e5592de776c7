"""Native training runners for the AWS built-in images, each run as `python -m` inside a job directory."""
