"""The ``curso`` command, above both layers: it uses ``course`` (what notebook cells
import) and ``grader`` (what checks labs); neither of them imports it, and ``course``
never imports ``grader``."""
