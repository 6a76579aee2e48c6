SELECT date, symbol, close FROM market_data.prices
