"""One module per lab: ``labNN.py`` registers that lab's checks with ``@check``."""
