FROM python:3.11-slim
# Debian's Chromium for browser capture (driven by Playwright; no browser is downloaded at run time).
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir .
ENV CITEVAULT_HOME=/data CITEVAULT_CHROMIUM=/usr/bin/chromium
EXPOSE 8000
CMD ["citevault", "serve", "--host", "0.0.0.0"]
