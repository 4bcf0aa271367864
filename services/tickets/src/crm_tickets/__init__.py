"""The tickets bounded context: customer service tickets, SLAs and satisfaction."""
