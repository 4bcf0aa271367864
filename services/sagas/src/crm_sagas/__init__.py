"""The sagas: process managers that coordinate the bounded contexts."""
