"""What several router workers share: presence and load, slots (fence), the lines' queue order."""
