// filled in with the auction gateway
