# One image for every part of the reference Ray deployment (docker-compose.yml): the Ray head,
# the Ray workers and the app. Ray needs the same Python and Ray versions on every node and on
# the app that drives them, so they all run this image.
FROM python:3.11-slim
WORKDIR /lab
COPY requirements.txt requirements-cluster.txt ./
RUN pip install --no-cache-dir -r requirements-cluster.txt
COPY ae_core ae_core
COPY ae_lab_ui ae_lab_ui
COPY app_pages app_pages
COPY lessons lessons
COPY app.py serve.py ./
# The workers import ae_core from here, whatever folder Ray starts them in.
ENV PYTHONPATH=/lab TF_CPP_MIN_LOG_LEVEL=2
EXPOSE 8501
CMD ["python", "-m", "streamlit", "run", "serve.py", "--server.address=0.0.0.0"]
