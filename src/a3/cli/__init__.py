"""The ``a3`` command: thin commands over the Python API (``a3.align``, ``a3.meta``, ``a3.report``)."""
