"""Unit tests of the deployment doctor: its report, runner, tool checks and command line."""
