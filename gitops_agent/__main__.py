from gitops_agent.cli import main

main()
