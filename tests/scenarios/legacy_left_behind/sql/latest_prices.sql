SELECT symbol, MAX(date) AS date FROM market_data.prices GROUP BY symbol
