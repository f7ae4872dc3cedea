"""LocalStack plugins that let the kit run on a machine without a Docker engine."""
