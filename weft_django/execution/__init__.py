"""Running a claimed task in a worker: the runner, its monitor thread, and the two kinds of skill."""
