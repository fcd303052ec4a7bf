"""The grader's error for input it cannot grade at all, importable without the grader's
heavy dependencies (the CLI catches it on every command)."""


class GradingError(ValueError):
    """The submission or the options cannot be graded at all (Spanish message)."""
