"""`python -m backline.cli ...` is `backline ...`."""

from backline.cli.main import main

main()
