"""The OpenAI SDK on SageMaker endpoints: ``openai.AsyncOpenAI`` with tokens that never expire.

```python
from sagemaker_rt_async import SageMakerRuntimeClient
from sagemaker_rt_async.openai import async_openai

async with SageMakerRuntimeClient(region="us-east-1") as rt:
    client = await async_openai(rt, "my-llm-endpoint")
    answer = await client.chat.completions.create(
        model="", messages=[{"role": "user", "content": "Hello"}]
    )
```

Each request takes a current ``sagemaker-api-key-…`` bearer token from the client's cache
(minted from its AWS credentials, re-minted before it expires). Needs the ``openai`` extra
(``pip install 'sagemaker-rt-async[openai]'``).
"""

from ._openai import BearerTokenSource, async_openai

__all__ = ["BearerTokenSource", "async_openai"]
