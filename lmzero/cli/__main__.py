from lmzero.cli import main

main()
