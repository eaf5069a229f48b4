"""The capture engine: a Scrapy spider, its middlewares, and the capture recorder it feeds."""
