from dspy_cli import main

main()
