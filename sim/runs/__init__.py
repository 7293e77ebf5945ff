"""Running a simulated night or session: the runner, its sinks, faithful mode, crowd scoring."""
