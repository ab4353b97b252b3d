from gridedge.cli import main

main()
