"""readme_client.py: the original README's Python client class, verbatim (section "Python客户端示例"), shared by the tests."""
import requests


class SimplePySandboxClient:
    def __init__(self, base_url="http://localhost:8000"):
        self.base_url = base_url
    
    def execute_code(self, code, timeout=10, environment=None):
        payload = {"code": code, "timeout": timeout}
        if environment:
            payload["environment"] = environment
        
        response = requests.post(f"{self.base_url}/execute", json=payload)
        return response.json()
    
    def create_environment(self, name, setup_script, description="", python_version="3.11"):
        payload = {
            "name": name,
            "description": description,
            "setup_script": setup_script,
            "python_version": python_version
        }
        response = requests.post(f"{self.base_url}/environments", json=payload)
        return response.json()
