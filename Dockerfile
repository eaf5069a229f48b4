FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir .
ENV CITEVAULT_HOME=/data
EXPOSE 8000
CMD ["citevault", "serve", "--host", "0.0.0.0"]
