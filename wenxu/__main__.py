from wenxu.cli import main

main()
