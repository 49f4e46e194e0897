from groundrl.cli.app import main

main()
