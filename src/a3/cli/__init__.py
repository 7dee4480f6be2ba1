"""The ``a3`` command line: thin typer commands over the Python API."""
