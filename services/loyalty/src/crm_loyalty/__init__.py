"""The loyalty bounded context: members, tiers, points, rewards and stores."""
