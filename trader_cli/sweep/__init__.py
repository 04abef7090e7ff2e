"""Sweeps (issue 15): many backtests of one config and strategy over a parameter grid, as
independent tasks (tasks.py: JSON spec in, JSON result out) on an engine (engines.py: a local
process pool), results streamed to results.jsonl (driver.py); the grid and metric (grid.py), the
days checked up front (days.py), and the folder's files read defensively (records.py)."""
