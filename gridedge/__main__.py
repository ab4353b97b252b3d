from gridedge.gateway.cli import main

main()
