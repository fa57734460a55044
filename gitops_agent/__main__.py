from gitops_agent.cli import PROG, main

main(prog_name=PROG)  # as installed, so shell completion works through `python -m` too
