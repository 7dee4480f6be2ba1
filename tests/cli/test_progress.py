"""Progress in a log: plain lines at a steady pace when output is not a terminal."""

import io
import time

from a3.cli.progress import LineProgress, make_console


def test_a_log_gets_a_line_per_task_start_every_period_and_end():
    now = [100.0]
    out = io.StringIO()
    progress = LineProgress(out, every=3600, clock=lambda: now[0])
    task = progress.task("finetune: iterations", 4)
    now[0] += 90
    task.advance()
    progress.report()  # what the timer does every period, moving or not
    now[0] += 60
    progress.report()
    task.advance(3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[0:00:00] finetune: iterations: 0/4, 0 s — started"
    assert lines[1] == "[0:01:30] finetune: iterations: 1/4, 0.01/s, 90 s"
    assert lines[2] == "[0:02:30] finetune: iterations: 1/4, 0.01/s, 150 s"  # a long step still shows it is alive
    assert lines[3] == "[0:02:30] finetune: iterations: 4/4, 0.03/s, 150 s — done"
    progress.report()
    assert len(out.getvalue().splitlines()) == 4  # a finished task is not repeated


def test_the_timer_writes_while_the_work_runs():
    out = io.StringIO()
    with LineProgress(out, every=0.05) as progress:
        progress.task("generate: queries judged", 10)
        time.sleep(0.3)
    assert out.getvalue().count("generate: queries judged: 0/10") >= 3


def test_tables_printed_to_a_log_are_not_cut_to_80_columns():
    assert make_console().width >= 200  # pytest's stdout is not a terminal
