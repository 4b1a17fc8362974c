from ninja import NinjaAPI

api = NinjaAPI(title="问需 wenxu API", version="1", urls_namespace="api-v1")
