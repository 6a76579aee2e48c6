SELECT DISTINCT symbol FROM market_data.z_daily
