"""The `groundrl` command line: thin commands that read options, build parts and run."""
