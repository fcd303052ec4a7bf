"""The course's grader: execute a lab submission, check what it really built, report.

``grader.runner`` executes notebooks with papermill, ``grader.checks`` holds the check
registry (one module per lab under ``grader.labs``), ``grader.report`` renders results,
``grader.grade`` ties them together and ``grader.assign`` generates labs from solutions.
"""
