# ORC AI's app and worker: one image, two commands (stack/docker-compose.yml runs both).
#   docker build -t orcai .
#   docker run orcai                                   # the worker (python -m workers.worker)
#   docker run -p 8501:8501 orcai streamlit run app.py --server.address=0.0.0.0
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORCAI_HOME=/app/.orcai

WORKDIR /app
# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY app.py ./
COPY .streamlit/ .streamlit/
COPY orcai/ orcai/
COPY app_pages/ app_pages/
COPY ui/ ui/
COPY workers/ workers/

RUN useradd --create-home --uid 10001 orcai && mkdir -p "$ORCAI_HOME" && chown orcai "$ORCAI_HOME"
USER orcai

# 8501: the Streamlit app; 9464: the worker's Prometheus /metrics (ORCAI_METRICS_PORT).
EXPOSE 8501 9464
CMD ["python", "-m", "workers.worker"]
