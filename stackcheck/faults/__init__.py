"""Fault scenarios: one per alert, each with an inject and a clear that act through the target.

Every injected fault is written to a ledger in the state dir before it is applied, so a Ctrl-C, a
SIGTERM or a crash never leaves it behind: ``finally`` clears it, and ``stackcheck cleanup`` clears
whatever a killed run left.
"""
