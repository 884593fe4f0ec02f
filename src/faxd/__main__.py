from faxd.cli import main_entry

main_entry()
